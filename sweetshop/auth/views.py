"""Register, log in and log out pages (web sessions; the API uses bearer tokens instead)."""
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from .. import accounts, throttle
from ..errors import EmailTakenError, UsernameTakenError, WrongPasswordError
from ..extensions import db, login_manager
from ..forms import ChangePasswordForm, EmailForm, LoginForm, RegisterForm
from ..models import User
from ..security import safe_next
from ..shop import basket

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see that page."
login_manager.login_message_category = "info"


@login_manager.user_loader
def load_user(session_id):
    """The user a session names, if the session is of the user's current generation.

    Logout and a password change move the generation on, so an older session (a copied cookie
    too) loads nobody: the server, not only the browser, has ended it.
    """
    user_id, _, version = session_id.partition(".")
    if not (user_id.isdigit() and version.isdigit()):
        return None  # a session from before generations existed: log in again
    user = db.session.get(User, int(user_id))
    if user is None or user.session_version != int(version):
        return None
    return user


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = RegisterForm(next=request.args.get("next"))
    if form.validate_on_submit():
        try:
            throttle.registration()
        except throttle.RegistrationThrottledError as error:
            return _throttled("auth/register.html", form, error,
                              f"Too many registrations from your address: please try again in "
                              f"{_duration(error.seconds)}.")
        try:
            # Pages never make an admin: is_admin is not a field of the form.
            user = accounts.register(form.username.data, form.password.data, form.full_name.data,
                                     email=form.email.data)
        except UsernameTakenError as error:
            form.username.errors.append(error.detail)
        except EmailTakenError as error:
            form.email.errors.append(error.detail)
        else:
            _start_session(user)
            flash(f"Welcome, {user.username}! Your account is ready and you are logged in.", "success")
            return redirect(safe_next(form.next.data, url_for("shop.index")))
    return render_template("auth/register.html", form=form), 422 if form.errors else 200


def _start_session(user):
    """A new session at login (and registration): nothing set before it (by anyone) carries over,
    except the basket, which a customer fills before logging in to place the order."""
    kept = basket.lines(session)
    session.clear()
    login_user(user)
    basket.save(session, kept)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm(username=request.args.get("username"), next=request.args.get("next"))
    if form.validate_on_submit():
        try:
            throttle.login_attempt(form.username.data)
        except throttle.LoginThrottledError as error:
            return _throttled("auth/login.html", form, error,
                              f"Too many login attempts: please try again in {_duration(error.seconds)}.")
        user = accounts.authenticate(form.username.data, form.password.data)
        if user is not None:
            throttle.login_succeeded(form.username.data)
            _start_session(user)
            flash(f"Logged in as {user.username}.", "success")
            return redirect(safe_next(form.next.data, url_for("shop.index")))
        form.form_errors.append("Incorrect username or password.")
    return render_template("auth/login.html", form=form), 422 if form.errors else 200


@bp.post("/logout")
@login_required
def logout():
    # The server ends the session, not just the browser: a copy of this cookie is refused too.
    # (Per-user generations: this ends the user's page sessions on every device.)
    accounts.end_sessions(current_user.id)
    logout_user()
    # The basket goes too: on a shared computer the next person should not find it (README).
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("shop.index"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    """Change the password: ends every other page session and every API token of the user."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        username = current_user.username
        try:
            # The current password is a password check like a login's, and is throttled as one.
            throttle.login_attempt(username)
        except throttle.LoginThrottledError as error:
            return _throttled("auth/account.html", form, error,
                              f"Too many password attempts: please try again in {_duration(error.seconds)}.")
        try:
            user = accounts.change_password(current_user, form.current_password.data, form.password.data)
        except WrongPasswordError as error:
            form.current_password.errors.append(error.detail + ".")
        else:
            throttle.login_succeeded(username)
            login_user(user)  # this session joins the new generation; every other one has ended
            flash("Password changed. Your other sessions and API tokens have ended.", "success")
            return redirect(url_for(".account"))
    return account_page(form=form)


def account_page(form=None, email_form=None):
    """/account: the password form and the address form; 422 when either came back refused."""
    form = form or ChangePasswordForm(formdata=None)
    email_form = email_form or EmailForm(formdata=None, email=current_user.email)
    status = 422 if form.errors or email_form.errors else 200
    return render_template("auth/account.html", form=form, email_form=email_form), status


def _duration(seconds):
    return f"{seconds} seconds" if seconds < 120 else f"{-(-seconds // 60)} minutes"


def _throttled(template, form, error, message):
    """The form again, unchanged, with a 429 and when to try again."""
    flash(message, "error")
    if template == "auth/account.html":
        return account_page(form=form)[0], 429, {"Retry-After": str(error.seconds)}
    return render_template(template, form=form), 429, {"Retry-After": str(error.seconds)}
