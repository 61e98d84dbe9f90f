from __future__ import annotations

import random
import uuid

PASSWORD = "corr3ct-horse"


def random_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


def random_phone() -> str:
    return "+919" + "".join(random.choice("0123456789") for _ in range(9))
