"""ADU datasets; importing this package registers them in Dassl."""
from . import office_home  # noqa: F401
from . import toy_domains  # noqa: F401
