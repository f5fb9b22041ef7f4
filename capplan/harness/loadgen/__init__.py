"""MLPerf LoadGen integration: SUT/QSL adapter, log parsing and the Server max-QPS search."""
