defmodule Linx.AsDependencyTest do
  # Linx is a dependency first: these build it the way users do, in separate OS
  # processes, and check the checkout is left as it was (only git-ignored paths change).
  use ExUnit.Case, async: false

  @moduletag :dependency
  @moduletag timeout: 300_000

  @checkout File.cwd!()

  setup do
    tmp = Path.join(System.tmp_dir!(), "linx-dep-#{System.unique_integer([:positive])}")
    File.mkdir_p!(tmp)
    on_exit(fn -> File.rm_rf!(tmp) end)
    status_before = git_status()
    on_exit(fn -> assert git_status() == status_before end)
    {:ok, tmp: tmp}
  end

  # What git sees (tracked changes and untracked, non-ignored files) in the checkout.
  defp git_status do
    case System.cmd("git", ["status", "--porcelain", "--untracked-files=all"],
           cd: @checkout,
           stderr_to_stdout: true
         ) do
      {out, 0} -> out
      {_, _} -> :not_a_git_checkout
    end
  end

  # A clean environment for a child `mix`/`elixir`: not our MIX_ENV, not our build paths.
  defp child_env(extra) do
    [
      {"MIX_ENV", nil},
      {"MIX_BUILD_PATH", nil},
      {"MIX_BUILD_ROOT", nil},
      {"MIX_DEPS_PATH", nil},
      {"MIX_EXS", nil}
    ] ++
      extra
  end

  @probe """
  {:ok, sock} = Linx.Netlink.Rtnl.open()
  {:ok, links} = Linx.Netlink.Rtnl.Link.list(sock)
  :ok = Linx.Netlink.Socket.close(sock)
  IO.puts("LINKS " <> Enum.map_join(links, ",", & &1.name))
  """

  test "a Mix project with {:linx, path: ...} compiles and calls Linx from its own code", %{
    tmp: tmp
  } do
    app = Path.join(tmp, "consumer")
    File.mkdir_p!(Path.join(app, "lib"))

    File.write!(Path.join(app, "mix.exs"), """
    defmodule Consumer.MixProject do
      use Mix.Project
      def project, do: [app: :consumer, version: "0.1.0", deps: [{:linx, path: #{inspect(@checkout)}}]]
    end
    """)

    File.write!(Path.join(app, "lib/consumer.ex"), """
    defmodule Consumer do
      def run do
    #{@probe}
      end
    end
    """)

    {out, status} =
      System.cmd("mix", ["do", "compile,", "run", "-e", "Consumer.run()"],
        cd: app,
        env: child_env([]),
        stderr_to_stdout: true
      )

    assert status == 0, out
    assert out =~ ~r/^LINKS .*\blo\b/m
    assert File.exists?(Path.join(app, "_build/dev/lib/linx/priv/native/linx_netlink.so"))

    # A second compile with nothing changed does not rebuild.
    {out, 0} = System.cmd("mix", ["compile"], cd: app, env: child_env([]), stderr_to_stdout: true)
    refute out =~ "Compiling Linx native code"
  end

  test "Mix.install([{:linx, path: ...}]) in an elixir script (what Livebook does) works", %{
    tmp: tmp
  } do
    script = Path.join(tmp, "notebook.exs")
    File.write!(script, "Mix.install([{:linx, path: #{inspect(@checkout)}}])\n" <> @probe)
    install_dir = Path.join(tmp, "mix-install")

    {out, status} =
      System.cmd("elixir", [script],
        cd: tmp,
        env: child_env([{"MIX_INSTALL_DIR", install_dir}]),
        stderr_to_stdout: true
      )

    assert status == 0, out
    assert out =~ ~r/^LINKS .*\blo\b/m
  end
end
