from augsnn.cli import main

raise SystemExit(main())
