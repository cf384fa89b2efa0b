"""Account pages about the address: change it, verify it, and reset a forgotten password.

Mailed links land here (``/account/verify/<token>``, ``/password/reset/<token>``); a GET only
shows a button or a form, so a mail scanner that follows links uses up nothing.
"""
from flask import flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from .. import addresses, throttle
from ..errors import EmailTakenError, InvalidLinkError, WrongPasswordError
from ..forms import ConfirmForm, EmailForm, ForgotPasswordForm, ResetPasswordForm
from .views import _duration, _throttled, account_page, bp


@bp.post("/account/email")
@login_required
def change_email():
    form = EmailForm()
    if form.validate_on_submit():
        username = current_user.username
        try:
            throttle.login_attempt(username)  # a password check, throttled as a login
        except throttle.LoginThrottledError as error:
            flash(f"Too many password attempts: please try again in {_duration(error.seconds)}.", "error")
            return account_page(email_form=form)[0], 429, {"Retry-After": str(error.seconds)}
        try:
            user = addresses.change_email(current_user.id, form.email_password.data, form.email.data)
        except WrongPasswordError as error:
            form.email_password.errors.append(error.detail + ".")
        except EmailTakenError as error:
            form.email.errors.append(error.detail + ".")
        else:
            throttle.login_succeeded(username)
            flash(f"We sent a link to {user.email}: open it to confirm the address." if user.email
                  else "Your email address is removed.", "success")
            return redirect(url_for(".account"))
    return account_page(email_form=form)


@bp.route("/account/verify/<token>", methods=["GET", "POST"])
def verify_email(token):
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            user = addresses.verify_email(token)
        except InvalidLinkError:
            flash("That link is invalid or has expired. You can ask for a new one at your account page.",
                  "error")
            return redirect(url_for("shop.index"))
        flash(f"Thank you: {user.email} is confirmed.", "success")
        return redirect(url_for("shop.index"))
    return render_template("auth/verify.html", form=form)


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        given = form.account.data.strip()
        try:
            throttle.password_reset(given)
        except throttle.PasswordResetThrottledError as error:
            return _throttled("auth/forgot.html", form, error,
                              f"Too many requests: please try again in {_duration(error.seconds)}.")
        addresses.request_password_reset(**({"email": given} if "@" in given else {"username": given}))
        flash("If that account exists and has an email address, a link is on its way.", "info")
        return redirect(url_for(".login"))
    return render_template("auth/forgot.html", form=form), 422 if form.errors else 200


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            user = addresses.reset_password(token, form.password.data)
        except InvalidLinkError:
            flash("That link is invalid or has expired: please ask for a new one.", "error")
            return redirect(url_for(".forgot_password"))
        flash("Your password is changed and every other session has ended. Please log in.", "success")
        return redirect(url_for(".login", username=user.username))
    return render_template("auth/reset.html", form=form), 422 if form.errors else 200
