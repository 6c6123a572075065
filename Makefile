# Shortcuts for the two set-up commands in the README.
.PHONY: run test
run:
	./dev run
test:
	./dev test
