import sys

from smoke.check import main

sys.exit(main())
