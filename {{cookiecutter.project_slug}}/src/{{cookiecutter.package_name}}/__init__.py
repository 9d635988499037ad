"""{{ cookiecutter.project_name }}: an Airflow 3 pipeline that trains a model and hands it between tasks."""
