"""The producer side: the app facade, task and job handles, results, dead letters."""
