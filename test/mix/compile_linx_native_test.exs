defmodule Mix.Tasks.Compile.LinxNativeTest do
  # The native compiler's promises, each checked in a separate `mix` OS process on a
  # private copy of the project (so this checkout's priv/native is never touched).
  use ExUnit.Case, async: false

  @moduletag :dependency
  @moduletag timeout: 600_000

  @checkout File.cwd!()

  setup_all do
    tmp = Path.join(System.tmp_dir!(), "linx-compiler-#{System.unique_integer([:positive])}")
    File.mkdir_p!(tmp)

    for f <- ~w(mix.exs .formatter.exs Cargo.toml Cargo.lock lib native),
        do: File.cp_r!(Path.join(@checkout, f), Path.join(tmp, f))

    on_exit(fn -> File.rm_rf!(tmp) end)
    {:ok, copy: tmp}
  end

  # A child mix sharing this checkout's cargo target dir (so crates.io deps are built
  # once), with its own build path.
  defp mix(copy, args, env \\ []) do
    base = [
      {"MIX_ENV", "dev"},
      {"MIX_BUILD_PATH", nil},
      {"MIX_BUILD_ROOT", nil},
      {"CARGO_TARGET_DIR", Path.join(@checkout, "target")}
    ]

    System.cmd("mix", args, cd: copy, env: base ++ env, stderr_to_stdout: true)
  end

  # Without a source priv/ (a clean clone has none: git keeps no empty directory) Mix
  # gives the app a real priv/ under _build, and that is where artifacts are installed.
  defp installed(copy, name \\ "linx_netlink.so"),
    do: Path.join(copy, "_build/dev/lib/linx/priv/native/" <> name)

  test "builds, installs into priv/native, and a second compile is a fast no-op", %{copy: copy} do
    {_, 0} = mix(copy, ["clean"])
    {out, 0} = mix(copy, ["compile"])
    assert out =~ "Compiling Linx native code (cargo, release profile)"
    assert File.regular?(installed(copy))

    # The agent (a `bin` artifact, found through cargo's "executable" path) is installed
    # next to the NIFs, executable, and runs.
    agent = installed(copy, "linx_agent")
    assert File.regular?(agent)
    assert Bitwise.band(File.stat!(agent).mode, 0o111) == 0o111
    assert {stages, 0} = System.cmd(agent, ["--list-stages"])
    assert "execve" in String.split(stages, "\n")

    {micros, {out, 0}} = :timer.tc(fn -> mix(copy, ["compile"]) end)
    refute out =~ "Compiling Linx native code"
    assert micros < 2_000_000, "no-op mix compile took #{div(micros, 1000)} ms"

    # Touching a native source triggers a rebuild.
    File.touch!(Path.join(copy, "native/linx_netlink/src/lib.rs"))
    {out, 0} = mix(copy, ["compile"])
    assert out =~ "Compiling Linx native code"
  end

  test "LINX_NATIVE_PROFILE=debug builds the debug profile; a bad profile is refused", %{
    copy: copy
  } do
    {out, 0} = mix(copy, ["compile"], [{"LINX_NATIVE_PROFILE", "debug"}])
    assert out =~ "debug profile"
    assert File.regular?(installed(copy))

    {out, status} = mix(copy, ["compile"], [{"LINX_NATIVE_PROFILE", "fast"}])
    assert status != 0
    assert out =~ ~s(LINX_NATIVE_PROFILE must be release or debug, got: "fast")
  end

  test "mix clean removes the installed artifacts", %{copy: copy} do
    {_, 0} = mix(copy, ["compile"])
    assert File.exists?(installed(copy))
    assert File.exists?(installed(copy, "linx_agent"))
    {_, 0} = mix(copy, ["clean"])
    refute File.exists?(installed(copy))
    refute File.exists?(installed(copy, "linx_agent"))
  end

  test "a missing cargo fails at once with a clear message", %{copy: copy} do
    home = Path.join(copy, "no-home")
    File.mkdir_p!(home)
    path = "/usr/local/bin:/usr/bin:/bin"

    {out, status} =
      mix(copy, ["compile", "--force"], [{"PATH", path}, {"HOME", home}, {"MIX_HOME", home}])

    assert status != 0
    assert out =~ "Linx needs cargo"

    {out, status} = mix(copy, ["compile", "--force"], [{"LINX_CARGO", "/nonexistent/cargo"}])
    assert status != 0
    assert out =~ "LINX_CARGO=/nonexistent/cargo is not a file"
  end

  test "a crate that fails to compile fails the build and is named", %{copy: copy} do
    broken = Path.join(copy, "native/linx_netlink/src/socket.rs")
    original = File.read!(broken)
    File.write!(broken, original <> "\nfn broken() -> u32 { \"not a number\" }\n")

    try do
      {out, status} = mix(copy, ["compile"])
      assert status != 0
      assert out =~ "mismatched types"
      assert out =~ "Linx native build failed: crate(s) linx_netlink failed to compile"
    after
      File.write!(broken, original)
    end
  end

  test "a non-Linux OS is refused with a clear message" do
    assert :ok = Mix.Tasks.Compile.LinxNative.ensure_linux!({:unix, :linux})

    assert_raise Mix.Error, ~r/Linx needs Linux/, fn ->
      Mix.Tasks.Compile.LinxNative.ensure_linux!({:unix, :darwin})
    end
  end
end
