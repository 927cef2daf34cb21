"""The fuzz tests' app (``tests/reliability/fuzz_support.py``) for real server processes."""

import os

from tests.reliability.fuzz_support import make_fuzz_app

app = make_fuzz_app(os.environ["NATS_URL"], internal_binds=None)  # from the environment
