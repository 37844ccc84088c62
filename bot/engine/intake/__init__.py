"""Intake: alerts and other systems' events from the journals into incidents."""
