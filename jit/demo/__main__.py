"""``python -m jit.demo``: run the demo IdP (see ``jit.demo.idp.main``)."""

import sys

from jit.demo.idp import main

sys.exit(main())
