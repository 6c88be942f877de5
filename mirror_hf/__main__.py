import sys

from mirror_hf.cli import main

sys.exit(main())
