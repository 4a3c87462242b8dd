"""Extension objects, created once and bound to the app in ``create_app``."""

from flask_session import Session

server_session = Session()
