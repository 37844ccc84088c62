"""In-process fakes of the systems Medic talks to, speaking their real wire protocols."""
