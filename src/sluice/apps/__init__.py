"""The bots built on sluice: each one an aiogram 3 router on the gate, the jobs and the cache."""
