"""The HTTP side of the service: routers per concern (routes/), the dependencies that hand them the service
from the app state (deps.py), and the router that joins them (main.py)."""
