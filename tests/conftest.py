"""Suite-wide settings.

Hypothesis runs a quick profile by default so the unit suite stays in seconds;
``HYPOTHESIS_PROFILE=thorough`` runs 20x more examples (use it after touching the parser).
"""

import os

from hypothesis import settings

settings.register_profile("default", max_examples=60, deadline=None)
settings.register_profile("thorough", max_examples=1200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
