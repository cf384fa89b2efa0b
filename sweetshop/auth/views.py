"""Register, log in and log out pages (web sessions; the API uses bearer tokens instead)."""
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import login_required, login_user, logout_user

from .. import accounts, throttle
from ..errors import UsernameTakenError
from ..extensions import db, login_manager
from ..forms import LoginForm, RegisterForm
from ..models import User
from ..security import safe_next
from ..shop import basket

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see that page."
login_manager.login_message_category = "info"


@login_manager.user_loader
def load_user(user_id):
    return db.session.get(User, int(user_id))


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = RegisterForm(next=request.args.get("next"))
    if form.validate_on_submit():
        try:
            # Pages never make an admin: is_admin is not a field of the form.
            accounts.register(form.username.data, form.password.data, form.full_name.data)
        except UsernameTakenError as error:
            form.username.errors.append(error.detail)
        else:
            flash(f"Welcome, {form.username.data}! Your account is ready: please log in.", "success")
            back = safe_next(form.next.data, None)
            return redirect(url_for(".login", username=form.username.data, next=back))
    return render_template("auth/register.html", form=form), 422 if form.errors else 200


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm(username=request.args.get("username"), next=request.args.get("next"))
    if form.validate_on_submit():
        try:
            throttle.check(form.username.data)
        except throttle.LoginThrottledError as error:
            flash(f"Too many failed login attempts: please try again in {error.seconds} seconds.",
                  "error")
            return (render_template("auth/login.html", form=form), 429,
                    {"Retry-After": str(error.seconds)})
        user = accounts.authenticate(form.username.data, form.password.data)
        if user is not None:
            # A new session at login: nothing set before it (by anyone) carries over, except the
            # basket, which a customer fills before logging in to place the order.
            kept = basket.lines(session)
            session.clear()
            login_user(user)
            basket.save(session, kept)
            flash(f"Logged in as {user.username}.", "success")
            return redirect(safe_next(form.next.data, url_for("shop.index")))
        throttle.failed(form.username.data)
        form.form_errors.append("Incorrect username or password.")
    return render_template("auth/login.html", form=form), 422 if form.errors else 200


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    # The basket goes too: on a shared computer the next person should not find it (README).
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("shop.index"))
