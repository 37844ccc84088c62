"""What Medic's own actions do to an incident."""
