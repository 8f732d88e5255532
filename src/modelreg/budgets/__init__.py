"""Monthly cost budgets: company-wide, per model, per user (docs/analytics.md).

`BudgetBook` (book.py) keeps the budgets and this month's spend in memory and refuses a
request whose budget is spent, before any upstream call; `BudgetService` (service.py) is the
CRUD with its access rules and the 80 % / 100 % alerts; schemas.py the API's bodies.
"""

from modelreg.budgets.book import BudgetBook
from modelreg.budgets.service import BudgetService, UnknownBudgetError

__all__ = ["BudgetBook", "BudgetService", "UnknownBudgetError"]
