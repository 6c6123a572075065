"""Create the local demo administrator once and print how to log in."""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the demo admin (username from DEMO_ADMIN_USERNAME, default 'admin') if missing, and print "
        "its credentials. The password comes from DEMO_ADMIN_PASSWORD or is generated once and kept in "
        "var/demo-admin-password; change it any time with `manage.py changepassword admin`."
    )

    def handle(self, *args, **options) -> None:
        username = os.environ.get("DEMO_ADMIN_USERNAME", "admin")
        password_file = settings.VAR_DIR / "demo-admin-password"
        user_model = get_user_model()
        if user_model.objects.filter(username=username).exists():
            if password_file.exists():
                password = password_file.read_text().strip()
                self.stdout.write(f"Demo admin: {username} / {password} (unless you changed it)")
            else:
                self.stdout.write(f"Demo admin: {username} (password as you set it)")
            return
        password = os.environ.get("DEMO_ADMIN_PASSWORD") or secrets.token_urlsafe(9)
        user_model.objects.create_superuser(username=username, email="", password=password)
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        self.stdout.write(self.style.SUCCESS(f"Created demo admin: {username} / {password}"))
        self.stdout.write(f"Change it with: .venv/bin/python manage.py changepassword {username}")
