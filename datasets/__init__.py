"""ADU datasets; importing this package registers them in Dassl."""
from . import office_home  # noqa: F401
