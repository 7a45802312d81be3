"""ADU datasets; importing this package registers them in Dassl."""
from . import domainnet  # noqa: F401
from . import imagenet  # noqa: F401
from . import office_home  # noqa: F401
from . import pacs  # noqa: F401
from . import toy_domains  # noqa: F401
