from dlexp.cli import console_main

console_main()
