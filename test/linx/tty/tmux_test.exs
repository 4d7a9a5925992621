Code.require_file("helpers.exs", __DIR__)

defmodule Linx.Tty.TmuxTest do
  # The BEAM's own controlling terminal: a second BEAM runs a script inside a tmux pane
  # (so /dev/tty is the pane's pty), and the test plays the user with tmux: send-keys
  # types, capture-pane reads the screen, resize-window drags the corner. `stty -F` on
  # the pane's tty checks the terminal from outside. The script and the test
  # synchronise through files in a private directory.
  use ExUnit.Case, async: true

  import Linx.Tty.TestHelpers

  @moduletag timeout: 120_000

  setup do
    unless System.find_executable("tmux"), do: flunk("these tests need tmux")
    name = "linx-tty-#{System.unique_integer([:positive])}"
    dir = Path.join(System.tmp_dir!(), name)
    File.mkdir_p!(dir)

    on_exit(fn ->
      System.cmd("tmux", ["-L", name, "kill-server"], stderr_to_stdout: true)
      File.rm_rf!(dir)
    end)

    %{sock: name, dir: dir}
  end

  # The shell the workload runs: a fixed prompt, nothing from the host's profile.
  @shell ~s|Linx.Process.spawn(argv: ["/bin/sh"], stdio: :pty, auto_proceed: true, env: ["PS1=linx$ ", "PATH=/usr/bin:/bin", "TERM=dumb"])|

  defp script(dir, body) do
    prelude = ~S"""
    dir = System.get_env("LINX_TTY_DIR")
    # Written aside and renamed, so the test never reads a half-written file.
    mark = fn name, text ->
      File.write!(Path.join(dir, name <> ".tmp"), text)
      File.rename!(Path.join(dir, name <> ".tmp"), Path.join(dir, name))
    end
    wait = fn name ->
      Stream.repeatedly(fn -> File.exists?(Path.join(dir, name)) || (Process.sleep(20) && false) end)
      |> Enum.find(& &1)
    end
    """

    path = Path.join(dir, "script.exs")
    File.write!(path, prelude <> body)
    path
  end

  # Starts `elixir script` in a new tmux session; `stdin` is "" (the pane) or a
  # redirection such as "< /dev/null".
  defp start_beam(ctx, body, stdin) do
    path = script(ctx.dir, body)
    ebin = Path.join(Mix.Project.app_path(), "ebin")
    elixir = System.find_executable("elixir")

    cmd =
      "LINX_TTY_DIR=#{ctx.dir} #{elixir} -pa #{ebin} #{path} #{stdin} " <>
        "> /dev/tty 2>#{ctx.dir}/stderr; sleep 30"

    tmux!(ctx, ["new-session", "-d", "-x", "80", "-y", "24", "-s", "t", cmd])
    tty = String.trim(tmux!(ctx, ["display", "-p", "-t", "t", "\#{pane_tty}"]))
    tty
  end

  defp tmux!(ctx, args) do
    {out, 0} =
      System.cmd("tmux", ["-L", ctx.sock | args],
        stderr_to_stdout: true,
        env: [{"TERM", "xterm"}]
      )

    out
  end

  defp keys(ctx, keys), do: tmux!(ctx, ["send-keys", "-t", "t" | keys])
  defp screen(ctx), do: tmux!(ctx, ["capture-pane", "-p", "-t", "t"])

  defp wait_screen(ctx, text, timeout \\ 15_000) do
    wait_until(
      fn -> String.contains?(screen(ctx), text) end,
      timeout,
      "#{inspect(text)} on screen:\n" <> screen(ctx)
    )
  end

  defp wait_file(ctx, name, timeout \\ 30_000) do
    path = Path.join(ctx.dir, name)

    wait_until(
      fn -> File.exists?(path) end,
      timeout,
      "#{name} (stderr: #{File.read(Path.join(ctx.dir, "stderr")) |> inspect})"
    )

    File.read!(path)
  end

  defp touch(ctx, name), do: File.write!(Path.join(ctx.dir, name), "")

  test "open_controlling_raw/0 makes the real controlling terminal raw; restore_and_close/2 undoes it",
       ctx do
    tty =
      start_beam(
        ctx,
        ~S"""
        mark.("up", "")
        wait.("open")
        {:ok, fd, saved} = Linx.Tty.open_controlling_raw()
        {:ok, ws} = Linx.Tty.window_size(fd)
        mark.("raw", inspect({fd, ws, saved}))
        wait.("restore")
        :ok = Linx.Tty.restore_and_close(fd, saved)
        :ok = Linx.Tty.restore_and_close(fd, saved)
        mark.("restored", "")
        wait.("quit")
        """,
        "< /dev/null"
      )

    wait_file(ctx, "up")
    before = stty!(tty, ["-g"])
    assert "icanon" in stty_words(tty)
    touch(ctx, "open")
    raw = wait_file(ctx, "raw")
    # tmux also reports a pixel size; the character size is the window's.
    assert raw =~ ~r/#Linx.Tty.WindowSize<80x24( \d+x\d+px)?>/
    assert raw =~ "#Linx.Tty.Saved<isig icanon echo opost>"
    words = stty_words(tty)

    for w <- ~w(-icanon -echo -isig -iexten -opost -icrnl -ixon cs8 min 1 time 0) do
      assert w in words, "#{w} not in #{inspect(MapSet.to_list(words))}"
    end

    touch(ctx, "restore")
    wait_file(ctx, "restored")
    assert stty!(tty, ["-g"]) == before
    touch(ctx, "quit")
  end

  for {label, stdin} <- [{"stdin elsewhere", "< /dev/null"}, {"stdin on the same terminal", ""}] do
    @tag stdin: stdin
    test "attach(:controlling) end to end (#{label}): keys, output, resize, exit code, restore",
         ctx do
      tty =
        start_beam(
          ctx,
          """
          {:ok, s} = #{@shell}
          mark.("up", "")
          wait.("attach")
          result = Linx.Tty.attach(:controlling, s)
          mark.("result", inspect(result))
          wait.("quit")
          """,
          ctx.stdin
        )

      wait_file(ctx, "up")
      before = stty!(tty, ["-g"])
      touch(ctx, "attach")
      wait_until(fn -> "-icanon" in stty_words(tty) end)
      # The shell prints its prompt when it gets a newline.
      keys(ctx, ["Enter"])
      wait_screen(ctx, "linx$")
      keys(ctx, ["echo hi-$((40+2))", "Enter"])
      wait_screen(ctx, "hi-42")
      # The window was 80x24 when attach started: seeded.
      keys(ctx, ["stty size", "Enter"])
      wait_screen(ctx, "24 80")
      # The user resizes the window.
      tmux!(ctx, ["resize-window", "-t", "t", "-x", "100", "-y", "30"])
      Process.sleep(600)
      keys(ctx, ["clear; stty size", "Enter"])
      wait_screen(ctx, "30 100")
      keys(ctx, ["exit 7", "Enter"])
      assert wait_file(ctx, "result") == "{:ok, {:exited, 7}}"
      assert stty!(tty, ["-g"]) == before
      touch(ctx, "quit")
    end
  end

  test "attach(:controlling): Ctrl-C interrupts the workload, Ctrl-P Ctrl-Q detaches", ctx do
    tty =
      start_beam(
        ctx,
        """
        {:ok, s} = #{@shell}
        mark.("up", "")
        wait.("attach")
        mark.("result1", inspect(Linx.Tty.attach(:controlling, s)))
        wait.("second")
        {:ok, s2} = Linx.Process.spawn(argv: ["/bin/sh", "-c", "echo in-second; exec sleep 100"], stdio: :pty, auto_proceed: true)
        mark.("result2", inspect(Linx.Tty.attach(:controlling, s2)))
        wait.("quit")
        """,
        ""
      )

    wait_file(ctx, "up")
    before = stty!(tty, ["-g"])
    touch(ctx, "attach")
    wait_until(fn -> "-icanon" in stty_words(tty) end)
    keys(ctx, ["Enter"])
    wait_screen(ctx, "linx$")
    # Ctrl-C reaches the shell's terminal as byte 3: it kills the foreground sleep, not
    # the BEAM; the shell survives and prints its prompt again.
    keys(ctx, ["sleep 100", "Enter"])
    Process.sleep(300)
    keys(ctx, ["C-c"])
    wait_screen(ctx, "^C")
    keys(ctx, ["echo status-$?", "Enter"])
    wait_screen(ctx, "status-130")
    keys(ctx, ["C-p", "C-q"])
    assert wait_file(ctx, "result1") == "{:ok, :detached}"
    assert stty!(tty, ["-g"]) == before
    touch(ctx, "second")
    # The second attach: the workload is exec'd sleep, so Ctrl-C ends it by SIGINT.
    wait_screen(ctx, "in-second")
    wait_until(fn -> "-icanon" in stty_words(tty) end)
    keys(ctx, ["C-c"])
    assert wait_file(ctx, "result2") == "{:ok, {:signaled, 2}}"
    assert stty!(tty, ["-g"]) == before
    touch(ctx, "quit")
  end

  test "attach(:controlling) from iex: the shell's own reader does not steal keys", ctx do
    File.write!(Path.join(ctx.dir, "t.exs"), """
    defmodule T do
      def run do
        {:ok, s} = #{@shell}
        result = Linx.Tty.attach(:controlling, s)
        path = Path.join(System.get_env("LINX_TTY_DIR"), "result")
        File.write!(path <> ".tmp", inspect(result))
        File.rename!(path <> ".tmp", path)
      end
    end
    """)

    ebin = Path.join(Mix.Project.app_path(), "ebin")
    iex = System.find_executable("iex")
    cmd = "LINX_TTY_DIR=#{ctx.dir} #{iex} -pa #{ebin} -r #{ctx.dir}/t.exs; sleep 30"
    tmux!(ctx, ["new-session", "-d", "-x", "80", "-y", "24", "-s", "t", cmd])
    tty = String.trim(tmux!(ctx, ["display", "-p", "-t", "t", "\#{pane_tty}"]))
    wait_screen(ctx, "iex(1)>")
    before = stty!(tty, ["-g"])
    keys(ctx, ["T.run()", "Enter"])
    wait_until(fn -> "-icanon" in stty_words(tty) end)
    keys(ctx, ["Enter"])
    wait_screen(ctx, "linx$")
    keys(ctx, ["echo hi-$((40+2))", "Enter"])
    wait_screen(ctx, "hi-42")
    # Ctrl-C: iex's driver takes it, attach turns it back into byte 3 for the workload.
    keys(ctx, ["sleep 100", "Enter"])
    Process.sleep(300)
    keys(ctx, ["C-c"])
    keys(ctx, ["echo status-$?", "Enter"])
    wait_screen(ctx, "status-130")
    keys(ctx, ["exit 5", "Enter"])
    assert wait_file(ctx, "result") == "{:ok, {:exited, 5}}"
    assert stty!(tty, ["-g"]) == before
    # iex has its terminal back and reads keys again.
    keys(ctx, ["6 * 7", "Enter"])
    wait_screen(ctx, "42\niex(")
  end
end
