from arq import run_worker

from workers.main import WorkerSettings


def main() -> None:
    run_worker(WorkerSettings)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
