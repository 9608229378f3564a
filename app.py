"""Chat UI (stub until the UI issue lands): builds the index and answers a sample question."""

import sys

from rag.cli import main

if __name__ == "__main__":
    code = main(["build"])
    sys.exit(code or main(["search", "山西省共选派了多少名干部到村任职？", "-k", "3"]))
