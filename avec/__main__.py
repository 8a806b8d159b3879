from avec.cli import main

raise SystemExit(main())
