from pyodo_tasks.dodo import *  # noqa: F403
