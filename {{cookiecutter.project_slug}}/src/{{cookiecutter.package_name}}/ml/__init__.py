"""Training, evaluation and scoring in plain Python: testable without Airflow."""
