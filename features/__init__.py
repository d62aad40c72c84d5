import warnings

# pandera imports pyspark.pandas whenever pyspark is installed (it is, for `score --engine
# spark`), and pyspark 4.3 then warns that pandas 3 is "not yet fully supported". Nothing
# here uses pandas-on-Spark; the warning would only be noise on every command.
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)
