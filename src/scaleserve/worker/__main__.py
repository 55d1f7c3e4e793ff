import sys

from scaleserve.worker.main import main

sys.exit(main())
