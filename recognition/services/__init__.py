"""Business rules that change data: one module per domain, one function per action, one transaction each.

check_* functions validate and raise domain errors; the others change rows.
Nothing here imports TensorFlow: recognition itself is passed in by the
worker task as a `read_page` callable. Nothing here imports the workers
package either: tasks are sent by name (services.enqueue). This package
re-exports nothing; callers import from the domain modules.
"""
