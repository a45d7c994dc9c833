from django.contrib.auth import views as auth_views
from django.urls import path

from gonghui.accounts import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("me/", views.me, name="me"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/count/", views.notification_count, name="notification_count"),
    path("account/password/", views.PasswordChangeView.as_view(), name="password_change"),
]
