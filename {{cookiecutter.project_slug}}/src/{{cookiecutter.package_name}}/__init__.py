"""An Airflow 3 pipeline that trains a model and hands it between tasks (the README names the project)."""
