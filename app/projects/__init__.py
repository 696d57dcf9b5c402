"""Projects, their tasks and subtasks: what the user is working on (recommendations' contexts)."""
