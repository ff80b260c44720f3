"""Writers for the official LoadGen log files: summary, detail (MLLOG), accuracy JSON and trace."""
