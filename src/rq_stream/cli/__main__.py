from rq_stream.cli import main

if __name__ == "__main__":  # not when a process=True subprocess replays the main module
    main()
