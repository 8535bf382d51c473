"""The enrolment kiosk: a trilingual Kivy touch app (entry point)."""
