"""``manage.py seed_demo``: a demo catalogue, a demo customer and a local staff user.

Safe to run again (every ``make run`` does): it creates what is missing and never
overwrites what the shop did since; a product that exists keeps its stock (what orders
took or hold, what staff restocked), name and price, and existing customers and staff
users are kept. It composes each app's own command, so it imports no app."""

import os

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

DEMO_PRODUCTS = [
    ("TSHIRT-BLK-M", "Black T-shirt, M", "19.90", 100),
    ("MUG-LOGO", "Logo mug", "9.50", 250),
    ("HOODIE-GRY-L", "Grey hoodie, L", "49.00", 25),
    ("STICKER-PACK", "Sticker pack", "3.00", 1000),
    ("LAST-UNIT", "Limited poster (one left)", "120.00", 1),
]
DEMO_CUSTOMER = ("demo@example.com", "Demo Customer", "demo-password")


class Command(BaseCommand):
    help = "Seed a demo catalogue, a demo customer and a local staff user."

    def handle(self, *args: object, **options: object) -> None:
        for sku, name, price, stock in DEMO_PRODUCTS:
            call_command(
                "catalog",
                "add",
                sku,
                "--name",
                name,
                "--price",
                price,
                "--stock",
                str(stock),
                "--if-missing",
                stdout=self.stdout,
            )
        email, name, password = DEMO_CUSTOMER
        call_command(
            "customers",
            "add",
            email,
            "--name",
            name,
            "--password",
            password,
            stdout=self.stdout,
        )
        self.stdout.write(f"demo customer: {email} / {password}")
        username = os.environ.get("SHOP_STAFF_USER", "staff")
        staff_password = os.environ.get("SHOP_STAFF_PASSWORD", "staff-password")
        User = get_user_model()
        if not User.objects.filter(username=username).exists():
            User.objects.create_superuser(
                username, f"{username}@localhost", staff_password
            )
            self.stdout.write(f"staff user created: {username} / {staff_password}")
        else:
            self.stdout.write(f"staff user exists: {username} (password unchanged)")
