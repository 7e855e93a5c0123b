"""Create (or reset) the demo logins: one user per staff role."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from core.models import Role, User
from core.services import user_create, user_set_role

DEMO_PASSWORD = "crossell-demo"
DEMO_USERS = (("bianca", Role.BUSINESS), ("carlos", Role.COMPLIANCE), ("admin", Role.ADMIN))


class Command(BaseCommand):
    help = "Create the demo logins bianca (business), carlos (compliance) and admin, password crossell-demo."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        for username, role in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user_create(
                    username=username, password=DEMO_PASSWORD, role=role, actor=None, is_superuser=role == Role.ADMIN
                )
                self.stdout.write(f"created {username} ({role.label})")
            else:
                if user.role != role:
                    user_set_role(user=user, role=role, actor=None)
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
                self.stdout.write(f"reset {username} ({role.label})")
