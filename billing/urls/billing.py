"""The billing settings: rate, agents' budgets, credit grants."""

from django.urls import path

from billing.views import billing as views

app_name = "billing"

urlpatterns = [
    path("", views.billing_settings, name="settings"),
    path("rate/", views.rate_update, name="rate"),
    path("agents/<int:pk>/budget/", views.agent_budget, name="agent_budget"),
    path("grant/", views.grant, name="grant"),
]
