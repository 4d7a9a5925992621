defmodule Linx.Tty do
  @moduledoc """
  Terminals: attributes (`termios`) saved and restored, raw mode, window size, new
  pseudo-terminals, and `attach/3`, which hands a terminal to a `Linx.Process` session
  started with `stdio: :pty` (like `docker attach`).

      {:ok, s} = Linx.Process.spawn(argv: ["/bin/sh"], stdio: :pty, auto_proceed: true)
      {:ok, {:exited, 0}} = Linx.Tty.attach(:controlling, s)
      # ... the user works in the shell; `exit` returns here, Ctrl-P Ctrl-Q detaches.

  Everything here runs unprivileged.

  ## Descriptors

  Terminals are named by descriptor numbers (`t:fd/0`), as in 0.2. The ones Linx opens
  (`open_controlling_raw/0`, `open_pty/0`) are close-on-exec and owned by a resource
  kept in the returned `Linx.Tty.Saved` or `Linx.Tty.Pty`: if the owning process dies
  or drops it without closing, the terminal's attributes are put back and the
  descriptor is closed when the resource is garbage collected, so a crash cannot leave
  a terminal in raw mode.

  ## Attributes are per terminal

  A terminal's attributes belong to the device, not to a descriptor: raw mode set
  through one descriptor shows through every other one (and to `stty -F`). Always pair
  `set_raw/1` or `open_controlling_raw/0` with `restore/2` or `restore_and_close/2`
  (`attach/3` does that itself, whatever happens).

  ## Errors

  Syscall failures are `{:error, %Linx.Tty.Error{operation: op, errno: name}}`; a BEAM
  without a controlling terminal gets `operation: :open, errno: :enxio` from
  `open_controlling_raw/0`. Wrong argument types raise `ArgumentError` naming the value.
  `attach/3` adds its own atoms (see there and `format_error/1`).
  """

  alias Linx.Tty.{Attach, Error, Native, Pty, Saved, WindowSize}

  @typedoc "An open descriptor that refers to a terminal."
  @type fd :: non_neg_integer()

  @typedoc "A `Linx.Process` session started with `stdio: :pty`."
  @type session :: pid()

  @typedoc "Which terminal `attach/3` hands over."
  @type target :: :controlling | :group_leader | {:fd, fd()}

  @typedoc "What `attach/3` returns."
  @type attach_result ::
          {:ok, {:exited, non_neg_integer()} | {:signaled, pos_integer()}}
          | {:ok, :detached | :aborted}
          | {:error,
             :no_local_tty
             | :no_process
             | :no_pty
             | :gl_eof
             | {:gl_reader, term()}
             | {:gl_reader_exit, term()}
             | Linx.Process.Error.t()
             | Error.t()}

  @error_stages [
    :open,
    :tcgetattr,
    :tcsetattr,
    :ioctl,
    :close,
    :posix_openpt,
    :unlockpt,
    :thread,
    :terminal
  ]

  @doc false
  @spec __error_stages__() :: [atom()]
  def __error_stages__, do: @error_stages

  @doc "`\"linx_tty\"`, from the NIF: proves the native library is loaded."
  @spec version() :: binary()
  def version, do: Native.version()

  @doc """
  Opens the BEAM's controlling terminal (`/dev/tty`) and puts it in raw mode
  (`cfmakeraw(3)`: no line editing, no echo, no signal keys, no output processing).

  Returns `{:ok, fd, saved}`: the descriptor (non-blocking, close-on-exec, not becoming
  a controlling terminal) and the attributes it had, for `restore_and_close/2`.
  Without a controlling terminal (a daemon, CI, stdio redirected by a service manager)
  it is `{:error, %Linx.Tty.Error{operation: :open, errno: :enxio}}`; `:tcgetattr` and
  `:tcsetattr` are the other failing operations. Raw mode is read back after setting
  it: a terminal that took only part of the request is put back and reported as
  `:tcsetattr` / `:einval`.

  `saved` also owns the descriptor: keep it as long as you use `fd`. Once nothing
  references it any more, garbage collection restores the terminal and closes `fd`
  (which is what protects the terminal when the caller crashes).
  """
  @spec open_controlling_raw() :: {:ok, fd(), Saved.t()} | {:error, Error.t()}
  def open_controlling_raw do
    case Native.open_controlling_raw() do
      {:ok, handle, fd, termios} -> {:ok, fd, %Saved{termios: termios, handle: handle}}
      {:error, {op, errno}} -> {:error, Error.from_nif(op, errno)}
    end
  end

  @doc """
  Puts `saved`'s attributes back on `fd` and closes it: the pair of
  `open_controlling_raw/0`. Calling it again is harmless (`:ok`): a `Saved` from
  `open_controlling_raw/0` knows its descriptor is already closed, so a number reused
  since is never closed by mistake. With a `Saved` of your own making, `fd` is restored
  and closed as given, and EBADF from either step counts as done; a descriptor that a
  Linx resource owns (from `open_pty/0`, say) is only restored, and closed by its owner.
  """
  @spec restore_and_close(fd(), Saved.t()) :: :ok | {:error, Error.t()}
  def restore_and_close(fd, saved) do
    check_fd!(fd)
    %Saved{termios: termios, handle: handle} = check_saved!(saved)
    wrap(fn -> Native.restore_and_close(handle, fd, termios) end, saved)
  end

  @doc """
  The attributes of the terminal at `fd` (`tcgetattr`), to `restore/2` later.
  New in 0.3.
  """
  @spec save(fd()) :: {:ok, Saved.t()} | {:error, Error.t()}
  def save(fd) do
    check_fd!(fd)

    case Native.termios_get(fd) do
      {:ok, termios} -> {:ok, %Saved{termios: termios}}
      {:error, {op, errno}} -> {:error, Error.from_nif(op, errno)}
    end
  end

  @doc """
  Applies saved attributes to the terminal at `fd` at once (`tcsetattr(TCSANOW)`),
  without closing it. New in 0.3.
  """
  @spec restore(fd(), Saved.t()) :: :ok | {:error, Error.t()}
  def restore(fd, saved) do
    check_fd!(fd)
    %Saved{termios: termios} = check_saved!(saved)
    wrap(fn -> Native.termios_set(fd, termios) end, saved)
  end

  @doc """
  Puts the terminal at `fd` (one you opened) in raw mode, like
  `open_controlling_raw/0` does with `/dev/tty`, and returns the attributes it had.
  New in 0.3.
  """
  @spec set_raw(fd()) :: {:ok, Saved.t()} | {:error, Error.t()}
  def set_raw(fd) do
    check_fd!(fd)

    case Native.make_raw(fd) do
      {:ok, termios} -> {:ok, %Saved{termios: termios}}
      {:error, {op, errno}} -> {:error, Error.from_nif(op, errno)}
    end
  end

  @doc """
  The window size of the terminal at `fd` (`TIOCGWINSZ`): `{:ok, %WindowSize{}}`.
  A descriptor that is not a terminal gives `:ioctl` / `:enotty`, one that is not open
  `:ioctl` / `:ebadf`.
  """
  @spec window_size(fd()) :: {:ok, WindowSize.t()} | {:error, Error.t()}
  def window_size(fd) do
    check_fd!(fd)

    case Native.window_size(fd) do
      {:ok, ws} -> {:ok, WindowSize.from_tuple(ws)}
      {:error, {op, errno}} -> {:error, Error.from_nif(op, errno)}
    end
  end

  @doc """
  Sets the window size of the terminal at `fd` (`TIOCSWINSZ`); the terminal's
  foreground process group gets SIGWINCH. A field above 65535 does not fit the
  kernel's struct: `{:error, %Linx.Tty.Error{operation: :ioctl, errno: :einval}}`.
  A workload's pty is resized with `Linx.Process.pty_set_winsize/2` instead.
  """
  @spec set_window_size(fd(), WindowSize.t()) :: :ok | {:error, Error.t()}
  def set_window_size(fd, %WindowSize{rows: r, cols: c, xpixel: x, ypixel: y} = ws) do
    check_fd!(fd)

    unless Enum.all?([r, c, x, y], &(is_integer(&1) and &1 >= 0)) do
      raise ArgumentError,
            "window size fields must be non-negative integers, got: #{inspect(Map.from_struct(ws))}"
    end

    case Native.set_window_size(fd, {r, c, x, y}) do
      :ok -> :ok
      {:error, {op, errno}} -> {:error, Error.from_nif(op, errno)}
    end
  end

  def set_window_size(fd, other) do
    check_fd!(fd)
    raise ArgumentError, "expected a %Linx.Tty.WindowSize{}, got: #{inspect(other)}"
  end

  @doc """
  A new pseudo-terminal pair (`posix_openpt`, `unlockpt`, and the slave opened through
  the master). The slave starts in the kernel's default cooked mode with a 0x0 window.
  New in 0.3; see `Linx.Tty.Pty`.
  """
  @spec open_pty() :: {:ok, Pty.t()} | {:error, Error.t()}
  def open_pty do
    case Native.open_pty() do
      {:ok, {mh, mfd}, {sh, sfd}, path} ->
        {:ok, %Pty{master: mfd, slave: sfd, path: path, handles: {mh, sh}}}

      {:error, {op, errno}} ->
        {:error, Error.from_nif(op, errno)}
    end
  end

  @doc "Closes both ends of a pty from `open_pty/0`. Idempotent."
  @spec close_pty(Pty.t()) :: :ok
  def close_pty(%Pty{handles: {mh, sh}}) do
    _ = Native.handle_close(sh)
    _ = Native.handle_close(mh)
    :ok
  end

  def close_pty(other),
    do: raise(ArgumentError, "expected a %Linx.Tty.Pty{}, got: #{inspect(other)}")

  @doc """
  Hands a terminal over to `session`'s pty until the workload ends or the user
  detaches, then puts the terminal back as it was. Blocks the caller meanwhile.

  The terminal (`target`):

    * `:controlling`: the BEAM's `/dev/tty`, put in raw mode. Refused with
      `{:error, :no_local_tty}` when the caller's group leader is an SSH channel or on
      another node (`--remsh`), where `/dev/tty` is not the user's terminal.
    * `{:fd, fd}`: the terminal at `fd` (a serial line, the slave of a pty you hold),
      re-opened privately and put in raw mode. New in 0.3.
    * `:group_leader`: the caller's group leader, through the Erlang I/O protocol: works
      over SSH and `--remsh`. Echo is turned off in the I/O server, input is read one
      character at a time, output goes out as `put_chars` in the server's encoding
      (invalid UTF-8 becomes U+FFFD on a unicode server), and the window size is polled
      with `:io.rows/1` and `:io.columns/1`.

  What it does: keys typed go to the workload (`Linx.Process.pty_write/2`), its output
  to the terminal, and window-size changes of the terminal to the workload's pty
  (`Linx.Process.pty_set_winsize/2`; seeded at the start, then on SIGWINCH where OTP
  delivers it, and by polling every `:winsize_poll_ms`). Ctrl-C is just byte 3 for the
  workload's terminal to turn into SIGINT; in `:group_leader` mode, where the I/O
  server takes Ctrl-C itself, the interrupt is turned back into that byte. When the
  BEAM's own shell reads the same terminal (`iex` on `/dev/tty`), input is taken from
  the caller's group leader so the two readers do not split the keys; output still goes
  straight to the terminal.

  Options:

    * `:detach_key`: the bytes that end the attach with `{:ok, :detached}`, leaving the
      workload running. Default Ctrl-P Ctrl-Q (`<<16, 17>>`, as docker); the sequence
      may be split across reads; a started sequence that does not complete is passed
      on. `nil` disables detaching.
    * `:winsize_poll_ms`: how often the window size is polled (10..60000, default 250).

  Returns `{:ok, {:exited, code}}` or `{:ok, {:signaled, signum}}` when the workload
  ends (all its output has been written by then), `{:ok, :detached}`, `{:ok, :aborted}`
  for a session attached at its checkpoint and then aborted, or `{:error, reason}`:

    * `:no_process`: the session has ended or is gone (checked first, and while
      attached if the session process dies);
    * `:no_pty`: the session was not started with `stdio: :pty`;
    * `:no_local_tty`: see `:controlling`;
    * `%Linx.Tty.Error{}`: the terminal could not be opened, or hung up (`:terminal`);
    * `%Linx.Process.Error{}`: the workload failed before it ran;
    * `:gl_eof`, `{:gl_reader, why}`, `{:gl_reader_exit, reason}`: the group leader
      ended or failed.

  The caller must be the session's owner: its events (`:pty_out`, the exit) are what
  the pump waits for; `Linx.Process.set_owner/2` lends a session to another process.
  Attached before the workload runs (at the checkpoint, with another process calling
  `Linx.Process.proceed/1`), typed keys are held until it runs. Exits are trapped while
  attached, so a crashing linked process cannot skip the restore; a caller that did not
  trap exits is then ended by that exit signal, as it would have been.
  """
  @spec attach(target(), session(), keyword()) :: attach_result()
  def attach(target, session, opts \\ [])

  def attach(target, session, opts) do
    check_target!(target)

    unless is_pid(session) do
      raise ArgumentError, "expected a Linx.Process session pid, got: #{inspect(session)}"
    end

    Attach.run(target, session, opts)
  end

  @doc """
  A sentence explaining an error `attach/3` or the other functions returned.
  """
  @spec format_error(term()) :: String.t()
  def format_error(:no_local_tty) do
    "the caller's terminal is not this BEAM's /dev/tty (its group leader is an SSH " <>
      "channel or on another node); use Linx.Tty.attach(:group_leader, session)"
  end

  def format_error(:no_process) do
    "the session has no workload left to attach to (it ended, or its process is gone); " <>
      "Linx.Process.info/1 shows how it ended"
  end

  def format_error(:no_pty) do
    "the session has no pty to attach to: start it with stdio: :pty"
  end

  def format_error(:gl_eof), do: "the group leader reached end of input"
  def format_error(%Error{} = e), do: Exception.message(e)
  def format_error(%Linx.Process.Error{} = e), do: Exception.message(e)
  def format_error(other), do: inspect(other)

  # --- argument checks ------------------------------------------------------------------

  @doc false
  @spec check_fd!(term()) :: :ok
  def check_fd!(fd) when is_integer(fd) and fd >= 0 and fd <= 0x7FFFFFFF, do: :ok

  def check_fd!(fd),
    do:
      raise(
        ArgumentError,
        "expected a file descriptor (a non-negative integer), got: #{inspect(fd)}"
      )

  defp check_saved!(%Saved{termios: t} = saved) when is_binary(t), do: saved

  defp check_saved!(other),
    do:
      raise(
        ArgumentError,
        "expected a %Linx.Tty.Saved{} with a termios binary, got: #{inspect(other)}"
      )

  defp check_target!(t) when t in [:controlling, :group_leader], do: :ok
  defp check_target!({:fd, fd}), do: check_fd!(fd)

  defp check_target!(other) do
    raise ArgumentError,
          "expected an attach target (:controlling, :group_leader or {:fd, fd}), got: #{inspect(other)}"
  end

  # The NIF raises badarg for a termios blob of the wrong size; name the value instead.
  defp wrap(fun, saved) do
    case fun.() do
      :ok -> :ok
      {:error, {op, errno}} -> {:error, Error.from_nif(op, errno)}
    end
  rescue
    ArgumentError ->
      reraise ArgumentError,
              "the saved terminal state is not a struct termios (#{byte_size(saved.termios)} bytes): " <>
                inspect(saved.termios, limit: 8),
              __STACKTRACE__
  end
end
