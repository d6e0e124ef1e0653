"""The console's release tools: the pending-approvals dock, the rollout strip and its flows,
and the release-record dialog (issue 5). The engine does the work; these show it and ask it."""
