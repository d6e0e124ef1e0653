"""The log viewer: live logs of deployments and replicas (pods later, same LogSource protocol)
and local log files, in a dock of tabs.

  dock.py       LogsDock: tabs, request-id views, remembered filters and font size
  pane.py       LogPane: the virtual table, bars, jobs, copy/export, wrap and font
  table.py      LogTable: the QTableView that paints its rows in one Python call (fast at 10,000 lines/s)
  livepane.py   LivePane: LiveFeeds drained at 10 Hz, pause without loss
  filepane.py   FilePane: a LogFile shown while indexed; filter/search/export on workers
  live.py       LiveLinesModel: bounded, merged in time order, "dropped from view" marker row
  filemodel.py  FileLinesModel: rows read by offset, small LRU
  model.py      the shared table model (columns, level colours, row looks)
  bars.py       FilterBar, SearchBar
  filters.py    LogFilter (pure)
  jobs.py       worker functions over a LogFile
"""

from console.ui.logs.dock import LogsDock

__all__ = ["LogsDock"]
