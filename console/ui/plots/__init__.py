"""Live telemetry charts (pyqtgraph): ChartsPanel and its charts, and the deployment colours."""
