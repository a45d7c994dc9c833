import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gonghui.settings")
django_application = get_wsgi_application()

# isort: split
from gonghui.api.lane import LaneApplication  # noqa: E402 (needs Django set up)

# A crowd's check-ins are served in the API's fast lane; everything else by Django.
application = LaneApplication(django_application)
