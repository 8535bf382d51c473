"""The enrolment workflow behind the kiosk (independent of Kivy)."""
