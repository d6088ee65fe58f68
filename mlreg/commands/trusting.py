"""Keys and signatures: ``keys init``, ``keys show`` and ``sign`` (SPEC §11)."""

from typing import Annotated, Optional

import typer

from .. import render
from ..errors import NotFound
from .base import JsonFlag, NameArg, RefArg, app, command, funnel, registry

keys_app = typer.Typer(help="Your signing key pair: versions you deploy are signed with it (see \"Trusting what you load\").",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _show_key(public, folder: str, made: bool | None, as_json: bool) -> None:
    if as_json:
        render.emit_json({"fingerprint": public.fingerprint, "public_key": public.pem.decode("ascii"),
                          "folder": folder, **({} if made is None else {"created": made})})
        return
    if made is not None:
        render.out(f"{'Made' if made else 'You already have'} a key pair in {folder}")
    render.out(f"Fingerprint: {public.fingerprint}")
    render.out(public.pem.decode("ascii").rstrip("\n"))
    if made is not None:
        render.out("Versions you deploy are now signed with it. Teammates trust it by adding the public key above "
                   "under [signers] in their trust file.")


@command(keys_app, "init")
@funnel
def keys_init(as_json: JsonFlag = False) -> None:
    """Make your key pair (ECDSA P-256) in your config folder, once; print its public key and fingerprint.

    Example: mlreg keys init
    """
    from ..signing import make_keys

    public, folder, made = make_keys()
    _show_key(public, folder, made, as_json)


@command(keys_app, "show")
@funnel
def keys_show(as_json: JsonFlag = False) -> None:
    """Print your public key and its fingerprint (exit 3 when you have none yet).

    Example: mlreg keys show > alice.pem
    """
    from ..signing import key_folder, own_public

    public = own_public()
    if public is None:
        raise NotFound(f"you have no key pair in {key_folder()} yet: run `mlreg keys init`")
    if as_json or not render.is_terminal():
        if as_json:
            _show_key(public, key_folder(), None, True)
        else:
            render.out(public.pem.decode("ascii").rstrip("\n"))
        return
    _show_key(public, key_folder(), None, False)


@command()
@funnel
def sign(
    name: NameArg,
    ref: RefArg,
    key: Annotated[Optional[str], typer.Option("--key", metavar="PEM", help="The private key to sign with (default: yours, from `mlreg keys init`); with --import, the public key that made the signature (default: a key you trust, found by its hint).")] = None,
    import_: Annotated[Optional[str], typer.Option("--import", metavar="SIG", help="File a signature the reference `model_signing sign key` made over a folder holding exactly the version's artifact, signed.toml and code/.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Sign a version (a reviewer's approval): signed versions load for readers who trust the key, custom classes and --code included.

    What is signed is what never changes: the artifact, its code/ and signed.toml (the model, version, ID,
    format and sha256). Tags, aliases and promotes never break a signature.

    Example: mlreg sign "Iris Classifier" 0.3.0
    """
    reg = registry()
    check = reg.sign(name, ref, key, signature=import_)
    record = reg.version(name, ref)
    if as_json:
        render.emit_json(reg.version_json(record))
        return
    who = f" ({render.clean(check.signer)})" if check.signer else ""
    render.out(f"{render.clean(record.model)} {record.version} (ID {record.version_id}): "
               f"{'filed the signature' if import_ else 'signed'} by {check.key}{who}")
